// Shared by both dashboards: es-MX formatting, API access, charts (ECharts), tables and the live
// WebSocket with reconnection.
'use strict';
const Pinta = (() => {
  const nf = new Intl.NumberFormat('es-MX');
  const money = new Intl.NumberFormat('es-MX', { style: 'currency', currency: 'MXN' });
  const dateFmt = new Intl.DateTimeFormat('es-MX', { dateStyle: 'long', timeZone: 'UTC' });
  const timeFmt = new Intl.DateTimeFormat('es-MX', { dateStyle: 'medium', timeStyle: 'medium' });
  const fmt = {
    int: (v) => (v == null ? '' : nf.format(v)),
    money: (v) => (v == null ? '' : money.format(v)),
    date: (iso) => (iso ? dateFmt.format(new Date(iso + 'T00:00:00Z')) : '—'),
    time: (iso) => (iso ? timeFmt.format(new Date(iso)) : '—'),
  };
  const $ = (id) => document.getElementById(id);

  function notice(html) {
    const n = $('notice');
    if (!html) { n.hidden = true; n.innerHTML = ''; return; }
    n.innerHTML = html; n.hidden = false;
  }

  async function api(path) {
    const res = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (res.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search); throw new Error('401'); }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || ('HTTP ' + res.status));
    return body;
  }

  function chartsAvailable() {
    if (typeof echarts !== 'undefined') return true;
    notice('No se encontró la biblioteca de gráficas (echarts.min.js). Ejecute <code>scripts/build-web</code> y recargue la página.');
    return false;
  }

  const charts = {};
  function chart(id) {
    if (!chartsAvailable()) return null;
    if (!charts[id]) {
      charts[id] = echarts.init($(id), null, { renderer: 'canvas' });
      window.addEventListener('resize', () => charts[id].resize());
    }
    return charts[id];
  }

  function renderKpis(k) {
    $('kpi-date').textContent = fmt.date(k.date);
    $('kpi-operators').textContent = fmt.int(k.operators);
    $('kpi-paints').textContent = fmt.int(k.paint_types);
    $('kpi-liters').textContent = fmt.int(k.liters);
    $('kpi-cost').textContent = fmt.money(k.total_cost);
  }

  function renderCharts(view, opts) {
    const interactive = !!(opts && opts.interactive);
    const zoom = interactive ? [{ type: 'inside' }, { type: 'slider', height: 16, bottom: 4 }] : [];
    const ops = view.by_operator.slice().reverse();
    const c1 = chart('chart-operator');
    if (c1) {
      c1.setOption({
        tooltip: { trigger: 'axis', valueFormatter: (v) => fmt.int(v) + ' L' },
        grid: { left: 8, right: 24, top: 8, bottom: interactive ? 28 : 8, containLabel: true },
        xAxis: { type: 'value', axisLabel: { formatter: (v) => fmt.int(v) } },
        yAxis: { type: 'category', data: ops.map((g) => g.name) },
        dataZoom: zoom.map((z) => Object.assign({ yAxisIndex: 0 }, z, z.type === 'slider' ? { orient: 'vertical', right: 0, width: 14, height: null, bottom: null } : {})),
        series: [{ type: 'bar', name: 'Litros', data: ops.map((g) => g.liters), itemStyle: { color: '#1f6feb' } }],
      }, true);
    }
    const c2 = chart('chart-paint');
    if (c2) {
      c2.setOption({
        tooltip: { trigger: 'axis', valueFormatter: (v) => fmt.int(v) + ' L' },
        grid: { left: 8, right: 8, top: 8, bottom: interactive ? 32 : 8, containLabel: true },
        xAxis: { type: 'category', data: view.by_paint.map((g) => g.name), axisLabel: { interval: 0, rotate: 30 } },
        yAxis: { type: 'value', axisLabel: { formatter: (v) => fmt.int(v) } },
        dataZoom: zoom.map((z) => Object.assign({ xAxisIndex: 0 }, z)),
        series: [{ type: 'bar', name: 'Litros', data: view.by_paint.map((g) => g.liters), itemStyle: { color: '#2da44e' } }],
      }, true);
    }
    const c3 = chart('chart-cost');
    if (c3) {
      c3.setOption({
        tooltip: { trigger: 'item', formatter: (p) => `${p.name}<br>${fmt.money(p.value)} (${p.percent.toLocaleString('es-MX')} %)` },
        legend: { type: 'scroll', bottom: 0 },
        series: [{ type: 'pie', radius: ['45%', '70%'], center: ['50%', '45%'], name: 'Costo',
          data: view.by_paint.map((g) => ({ name: g.name, value: Math.round(g.cost * 100) / 100 })) }],
      }, true);
    }
    if (opts && opts.onPick) {
      if (c1) { c1.off('click'); c1.on('click', (p) => opts.onPick('operator', p.name)); }
      if (c2) { c2.off('click'); c2.on('click', (p) => opts.onPick('paint', p.name)); }
      if (c3) { c3.off('click'); c3.on('click', (p) => opts.onPick('paint', p.name)); }
    }
  }

  const COLUMNS = [
    { key: 'fecha', label: 'Fecha de producción', render: (v) => (v ? v.replace('T', ' ') : '') },
    { key: 'operador', label: 'Operador' },
    { key: 'tipo_pintura', label: 'Tipo de pintura' },
    { key: 'cantidad', label: 'Cantidad (L)', num: true, render: fmt.int },
    { key: 'costo_litro', label: 'Costo por litro', num: true, render: fmt.money },
    { key: 'costo', label: 'Costo de la producción', num: true, render: fmt.money },
  ];

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }

  function renderTable(table, rows, sort, onSort) {
    const head = COLUMNS.map((c) => {
      const s = sort && sort.key === c.key ? ` aria-sort="${sort.dir === 'desc' ? 'descending' : 'ascending'}"` : '';
      return `<th data-key="${c.key}" class="${c.num ? 'num' : ''}"${s}>${c.label}</th>`;
    }).join('');
    table.tHead.innerHTML = `<tr>${head}</tr>`;
    let data = rows;
    if (sort && sort.key) {
      const dir = sort.dir === 'desc' ? -1 : 1;
      data = rows.slice().sort((a, b) => {
        const x = a[sort.key], y = b[sort.key];
        if (x == null) return 1; if (y == null) return -1;
        return (typeof x === 'number' ? x - y : String(x).localeCompare(String(y), 'es-MX')) * dir;
      });
    }
    table.tBodies[0].innerHTML = data.map((r) => '<tr>' + COLUMNS.map((c) => {
      const v = c.render ? c.render(r[c.key]) : r[c.key];
      return `<td class="${c.num ? 'num' : ''}">${esc(v)}</td>`;
    }).join('') + '</tr>').join('');
    if (onSort) {
      table.tHead.querySelectorAll('th').forEach((th) => th.addEventListener('click', () => onSort(th.dataset.key)));
    }
  }

  // Live connection: reconnects with exponential backoff (1 s … 30 s, with jitter).
  function live(onMessage) {
    let delay = 1000;
    const el = $('live');
    const set = (on) => { el.className = 'live ' + (on ? 'on' : 'off'); el.textContent = on ? '● en vivo' : '● sin conexión'; };
    function connect() {
      const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
      ws.onopen = () => { delay = 1000; set(true); };
      ws.onmessage = (ev) => { try { onMessage(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
      ws.onclose = () => {
        set(false);
        const wait = delay * (0.8 + Math.random() * 0.4);
        delay = Math.min(delay * 2, 30000);
        setTimeout(connect, wait);
      };
    }
    connect();
  }

  return { fmt, $, api, notice, renderKpis, renderCharts, renderTable, live, esc, chartsAvailable };
})();
