// The facilitator's exports after the rounds (docs/protocol.md, "Export" and "Report"): the
// Markdown, CSV and JSON downloads, and the printable report.
//
// Every export needs the facilitator token, which must not go into a URL: each is fetched
// with the token as a bearer token. The report is shown from a blob URL in a new tab. That
// tab is opened at once, while the click still counts as one (a tab opened after the fetch
// may be blocked); with no tab, the report is downloaded instead. A blob document keeps this
// page's Content-Security-Policy, which allows the report's one stylesheet by its hash.
//
// wireExports({ code, token, language }) wires the buttons of #f-export: `token()` and
// `language()` are asked at each click.

import { byId, setText } from '/lib/dom.js';
import { t } from '/lib/i18n.js';
import { fetchExport } from '/lib/api.js';
import { errorText } from '/lib/state.js';
import { saveBlob } from '/lib/ui.js';

/** Run `job` with `btn` busy and the outcome said in #x-status. */
async function busy(btn, preparing, job) {
  const status = byId('x-status');
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  status.dataset.state = 'saving';
  setText(status, preparing);
  try {
    setText(status, await job());
    status.dataset.state = 'saved';
  } catch (e) {
    status.dataset.state = 'offline';
    setText(status, e.said || errorText(e));
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

export function wireExports({ code, token, language }) {
  for (const btn of byId('export-actions').querySelectorAll('button[data-ext]')) {
    btn.addEventListener('click', () =>
      busy(btn, t('fac.preparing'), async () => {
        try {
          const { blob, filename } = await fetchExport(code, token(), btn.dataset.ext, language());
          saveBlob(blob, filename);
          return t('fac.downloaded', { file: filename });
        } catch (e) {
          e.said = t('fac.notDownloaded', { why: errorText(e) });
          throw e;
        }
      }),
    );
  }

  let reportUrl = null;
  const report = byId('x-report');
  report.addEventListener('click', () => {
    const tab = window.open('', '_blank');
    if (tab) tab.opener = null;
    return busy(report, t('fac.reportPreparing'), async () => {
      try {
        const { blob, filename } = await fetchExport(code, token(), 'html', language());
        if (tab && !tab.closed) {
          if (reportUrl) URL.revokeObjectURL(reportUrl);
          reportUrl = URL.createObjectURL(blob);
          tab.location.replace(reportUrl);
          return t('fac.reportOpened');
        }
        // No tab (pop-ups blocked, or closed meanwhile): the file is the report.
        saveBlob(blob, filename);
        return t('fac.reportDownloaded', { file: filename });
      } catch (e) {
        tab?.close();
        e.said = t('fac.reportFailed', { why: errorText(e) });
        throw e;
      }
    });
  });
}
