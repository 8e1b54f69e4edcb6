/**
 * A standalone component showing an observed resource with the async pipe: subscribing registers the observation,
 * leaving the view deregisters it.
 */
import { AsyncPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { CoapService } from './coap.service';

@Component({
  selector: 'app-temperature',
  standalone: true,
  imports: [AsyncPipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `<p>Temperature: {{ (temperature$ | async) ?? '…' }}</p>`,
})
export class TemperatureComponent {
  readonly temperature$ = inject(CoapService).observe('/sensors/temperature');
}
