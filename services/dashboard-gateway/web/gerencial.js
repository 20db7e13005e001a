// Managers' dashboard: the latest published day, re-rendered when a new one is published.
'use strict';
(() => {
  const { $, api, renderKpis, renderCharts, renderTable, live, notice, fmt } = Pinta;
  let shown = null;
  let loading = null;

  async function load() {
    try {
      const v = await api('/api/production/latest');
      shown = v.production_date;
      document.body.dataset.date = shown;
      renderKpis(v.kpis);
      renderCharts(v);
      renderTable($('rows'), v.rows);
      $('updated').textContent = fmt.time(v.updated_at);
      $('updated').dateTime = v.updated_at;
      if (Pinta.chartsAvailable()) notice('');
    } catch (e) {
      notice('No hay datos publicados todavía o el servidor no respondió: ' + Pinta.esc(e.message));
    }
  }

  let again = false;
  function reload() {
    if (loading) { again = true; return loading; }
    loading = load().finally(() => { loading = null; if (again) { again = false; reload(); } });
    return loading;
  }

  live((m) => {
    if (m.latest && m.latest !== shown) reload();
  });
  reload();
})();
