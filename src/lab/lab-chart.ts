/**
 * <lowbit-lab-chart>: quality against bits per weight as plain SVG, from chart.ts's layout. Plain
 * SVG because the chart is one scatter plot with a log axis and labels: a charting library would
 * add more code than this element has, and a dependency to keep up to date.
 */
import { LitElement, css, html, nothing, svg } from 'lit';
import { property } from 'lit/decorators.js';
import { layoutChart, type ChartInput, type ChartOptions, type QualityAxis } from './chart.ts';

export class LabChart extends LitElement {
  static override styles = css`
    :host {
      display: block;
      color: inherit;
    }
    svg {
      width: 100%;
      height: auto;
      font: 12px system-ui, sans-serif;
    }
    .axis line,
    .axis path {
      stroke: currentColor;
    }
    .grid {
      stroke: currentColor;
      opacity: 0.15;
    }
    .reference {
      stroke: #d9480f;
      stroke-dasharray: 6 4;
    }
    .reference-label {
      fill: #d9480f;
    }
    circle {
      fill: #2f6fed;
      stroke: #ffffff;
      stroke-width: 1;
    }
    circle[data-kind='opened'] {
      fill: #12b886;
    }
    text {
      fill: currentColor;
    }
    .omitted {
      font-size: 13px;
      opacity: 0.8;
    }
  `;

  @property({ attribute: false }) points: ChartInput[] = [];
  /** Each point's row kind, by label (colours opened files apart from the lab's own results). */
  @property({ attribute: false }) kinds: Record<string, string> = {};
  @property() axis: QualityAxis = 'ppl';
  @property({ attribute: false }) base: ChartOptions['base'];

  protected override render() {
    const c = layoutChart(this.points, { axis: this.axis, width: 720, height: 400, base: this.base });
    const { plot } = c;
    return html`<svg
        viewBox="0 0 ${c.width} ${c.height}"
        role="img"
        aria-label=${`${c.yTitle} against bits per weight: ${c.points.map((p) => `${p.label} ${p.bitsPerWeight.toFixed(2)} bpw, ${p.value.toPrecision(4)}`).join('; ')}`}
      >
        ${c.yTicks.map(
          (t) =>
            svg`<line class="grid" x1=${plot.left} x2=${plot.right} y1=${t.at} y2=${t.at}></line>
            <text x=${plot.left - 6} y=${t.at + 4} text-anchor="end">${t.text}</text>`,
        )}
        ${c.xTicks.map(
          (t) =>
            svg`<line class="grid" x1=${t.at} x2=${t.at} y1=${plot.top} y2=${plot.bottom}></line>
            <text x=${t.at} y=${plot.bottom + 16} text-anchor="middle">${t.text}</text>`,
        )}
        <g class="axis">
          <line x1=${plot.left} x2=${plot.right} y1=${plot.bottom} y2=${plot.bottom}></line>
          <line x1=${plot.left} x2=${plot.left} y1=${plot.top} y2=${plot.bottom}></line>
        </g>
        <text x=${(plot.left + plot.right) / 2} y=${c.height - 6} text-anchor="middle">${c.xTitle}</text>
        <text transform="translate(14 ${(plot.top + plot.bottom) / 2}) rotate(-90)" text-anchor="middle">${c.yTitle}</text>
        ${
          c.reference
            ? c.reference.orientation === 'horizontal'
              ? svg`<line class="reference" x1=${plot.left} x2=${plot.right} y1=${c.reference.at} y2=${c.reference.at}></line>
                <text class="reference-label" x=${plot.right - 4} y=${c.reference.at + 14} text-anchor="end">${c.reference.text}</text>`
              : svg`<line class="reference" x1=${c.reference.at} x2=${c.reference.at} y1=${plot.top} y2=${plot.bottom}></line>
                <text class="reference-label" x=${c.reference.at - 4} y=${plot.top + 12} text-anchor="end">${c.reference.text}</text>`
            : nothing
        }
        ${c.points.map(
          (p) =>
            svg`<circle cx=${p.x} cy=${p.y} r="5" data-label=${p.label} data-kind=${this.kinds[p.label] ?? 'quantized'} data-bpw=${p.bitsPerWeight} data-value=${p.value}><title>${p.label}: ${p.bitsPerWeight.toFixed(2)} bpw, ${p.value.toPrecision(5)}</title></circle>
            <text x=${p.labelX} y=${p.labelY}>${p.label}</text>`,
        )}
      </svg>
      ${c.omitted.length ? html`<p class="omitted">Not on this log scale (value 0 or unknown): ${c.omitted.join(', ')}</p>` : nothing}`;
  }
}

if (!customElements.get('lowbit-lab-chart')) customElements.define('lowbit-lab-chart', LabChart);

declare global {
  interface HTMLElementTagNameMap {
    'lowbit-lab-chart': LabChart;
  }
}
