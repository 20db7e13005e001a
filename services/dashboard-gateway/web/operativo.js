// Operations dashboard: any day of the current year, filters kept in the URL, interactive charts,
// a sortable table, CSV export of the filtered rows, the day's quarantine, and new days offered live.
'use strict';
(() => {
  const { $, api, renderKpis, renderCharts, renderTable, live, notice, fmt, esc } = Pinta;
  const state = { date: 'latest', operators: [], paints: [], min: 0, sort: null };
  let days = [];
  let latest = null;
  let view = null;

  function readUrl() {
    const q = new URLSearchParams(location.search);
    state.date = /^\d{4}-\d{2}-\d{2}$/.test(q.get('date') || '') ? q.get('date') : 'latest';
    state.operators = q.getAll('operator');
    state.paints = q.getAll('paint');
    state.min = Math.max(0, parseInt(q.get('min_qty') || '0', 10) || 0);
    const s = (q.get('sort') || '').split(':');
    state.sort = s[0] ? { key: s[0], dir: s[1] === 'desc' ? 'desc' : 'asc' } : null;
  }

  function filterQuery() {
    const q = new URLSearchParams();
    state.operators.forEach((o) => q.append('operator', o));
    state.paints.forEach((p) => q.append('paint', p));
    if (state.min > 0) q.set('min_qty', String(state.min));
    return q;
  }

  function writeUrl() {
    const q = filterQuery();
    q.set('date', state.date);
    if (state.sort) q.set('sort', state.sort.key + ':' + state.sort.dir);
    history.replaceState(null, '', '/operativo?' + q.toString());
  }

  const day = () => (state.date === 'latest' ? latest : state.date);

  function fillSelect(sel, values, chosen) {
    sel.innerHTML = values.map((v) => `<option value="${esc(v)}"${chosen.includes(v) ? ' selected' : ''}>${esc(v)}</option>`).join('');
  }

  function renderDays() {
    const year = latest ? latest.slice(0, 4) : null;
    const inYear = days.filter((d) => !year || d.startsWith(year)).slice().reverse();
    const sel = $('f-date');
    sel.innerHTML = `<option value="latest">Último día publicado${latest ? ' (' + fmt.date(latest) + ')' : ''}</option>` +
      inYear.map((d) => `<option value="${d}">${fmt.date(d)}</option>`).join('');
    sel.value = state.date;
    if (sel.value !== state.date) { sel.value = 'latest'; }
  }

  async function loadDays() {
    const d = await api('/api/days');
    days = d.days;
    latest = d.latest || days[days.length - 1] || null;
    renderDays();
  }

  let loading = null, again = false;
  function reload() {
    if (loading) { again = true; return loading; }
    loading = load().finally(() => { loading = null; if (again) { again = false; reload(); } });
    return loading;
  }

  async function load() {
    writeUrl();
    const d = day();
    if (!d) { notice('No hay días con datos todavía.'); return; }
    try {
      const q = filterQuery().toString();
      const [v, quarantine] = await Promise.all([
        api(`/api/production/${d}${q ? '?' + q : ''}`),
        api(`/api/quarantine/${d}`),
      ]);
      view = v;
      document.body.dataset.date = v.production_date;
      fillSelect($('f-operator'), v.options.operators, state.operators);
      fillSelect($('f-paint'), v.options.paints, state.paints);
      const slider = $('f-min');
      slider.max = String(Math.max(v.options.max_quantity, state.min, 1));
      slider.value = String(state.min);
      $('f-min-out').textContent = fmt.int(state.min);
      renderKpis(v.kpis);
      renderCharts(v, { interactive: true, onPick: pick });
      $('row-count').textContent = fmt.int(v.rows.length);
      renderTable($('rows'), v.rows, state.sort, sortBy);
      renderQuarantine(quarantine.rows);
      $('export').href = `/api/production/${d}/export.csv${q ? '?' + q : ''}`;
      $('export').setAttribute('download', `produccion_${d}.csv`);
      $('updated').textContent = fmt.time(new Date().toISOString());
      if (Pinta.chartsAvailable() && !(latest && state.date !== 'latest' && latest > state.date && $('notice').dataset.offer)) notice('');
    } catch (e) {
      notice('No se pudieron cargar los datos: ' + esc(e.message));
    }
  }

  function renderQuarantine(rows) {
    const t = $('quarantine');
    $('q-count').textContent = fmt.int(rows.length);
    const cols = rows.length ? Object.keys(rows[0].values) : [];
    t.tHead.innerHTML = '<tr><th>Línea</th><th>Motivos</th><th>Detalle</th>' + cols.map((c) => `<th>${esc(c)}</th>`).join('') + '</tr>';
    t.tBodies[0].innerHTML = rows.map((r) => `<tr><td class="num">${r.line}</td><td>${esc(r.reasons.join(', '))}</td><td>${esc(r.detail)}</td>` +
      cols.map((c) => `<td>${esc(r.values[c])}</td>`).join('') + '</tr>').join('') ||
      '<tr><td colspan="3">Sin registros en cuarentena este día.</td></tr>';
  }

  function pick(kind, name) {
    const list = kind === 'operator' ? state.operators : state.paints;
    const i = list.indexOf(name);
    if (i >= 0) list.splice(i, 1); else list.push(name);
    reload();
  }

  function sortBy(key) {
    state.sort = state.sort && state.sort.key === key ? { key, dir: state.sort.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'asc' };
    writeUrl();
    renderTable($('rows'), view ? view.rows : [], state.sort, sortBy);
  }

  const selected = (sel) => Array.from(sel.selectedOptions).map((o) => o.value);
  $('f-date').addEventListener('change', (e) => { state.date = e.target.value; notice(''); reload(); });
  $('f-operator').addEventListener('change', (e) => { state.operators = selected(e.target); reload(); });
  $('f-paint').addEventListener('change', (e) => { state.paints = selected(e.target); reload(); });
  $('f-min').addEventListener('input', (e) => { $('f-min-out').textContent = fmt.int(+e.target.value); });
  $('f-min').addEventListener('change', (e) => { state.min = parseInt(e.target.value, 10) || 0; reload(); });
  $('f-clear').addEventListener('click', () => { state.operators = []; state.paints = []; state.min = 0; reload(); });

  function offer(d) {
    notice(`Hay un nuevo día publicado: <b>${esc(fmt.date(d))}</b>. <button type="button" id="go-latest">Ver el último día</button>`);
    $('notice').dataset.offer = d;
    $('go-latest').addEventListener('click', () => { state.date = 'latest'; delete $('notice').dataset.offer; notice(''); renderDays(); reload(); });
  }

  live(async (m) => {
    if (!m.latest || m.latest === latest) return;
    await loadDays().catch(() => {});
    if (state.date === 'latest') reload(); else offer(m.latest);
  });

  readUrl();
  loadDays().then(reload).catch((e) => notice('No se pudieron cargar los días: ' + esc(e.message)));
})();
