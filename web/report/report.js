// Lucent report.html: draws the report from the JSON in <script id="lucent-report-data">.
// Inlined into the file by the report writer (src/lucent/metrics/report.cpp) after Vega,
// Vega-Lite and vega-embed. Every string from the data goes on the page through textContent
// (never parsed as markup); images only as data: URIs of PNG, JPEG or GIF.
// window.lucentReport = {expected, rendered, failed, errors, done} tells a headless check
// whether every chart was drawn.
(function () {
  'use strict';
  var state = { expected: 0, rendered: 0, failed: 0, errors: [], done: false };
  window.lucentReport = state;
  var data = JSON.parse(document.getElementById('lucent-report-data').textContent);
  var root = document.getElementById('report');

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(4);
    return String(v);
  }
  var imagePrefix = /^data:image\/(png|jpeg|gif);base64,[A-Za-z0-9+\/=]+$/;
  function cell(v) {
    var td = el('td');
    if (v !== null && typeof v === 'object') {  // a thumbnail: {src} or {note}
      if (typeof v.src === 'string' && imagePrefix.test(v.src)) {
        var img = el('img', 'thumb');
        img.alt = 'case image';
        img.src = v.src;
        td.appendChild(img);
      } else {
        td.className = 'note';
        td.textContent = v.note || '–';
      }
      return td;
    }
    if (typeof v === 'number') td.className = 'num';
    td.textContent = fmt(v);
    return td;
  }
  function table(columns, rows, cls) {
    var t = el('table', cls);
    if (columns) {
      var tr = el('tr');
      columns.forEach(function (c) { tr.appendChild(el('th', null, c)); });
      t.appendChild(el('thead')).appendChild(tr);
    }
    var body = el('tbody');
    rows.forEach(function (r) {
      var tr = el('tr');
      r.forEach(function (v) { tr.appendChild(cell(v)); });
      body.appendChild(tr);
    });
    t.appendChild(body);
    return t;
  }

  // Header: what was evaluated, and the hashes that identify it.
  document.title = data.title;
  var header = el('header');
  header.appendChild(el('h1', null, data.title));
  header.appendChild(table(null, data.summary, 'kv'));
  if (data.provenance.length) {
    header.appendChild(el('h2', null, 'Provenance'));
    header.appendChild(table(null, data.provenance, 'kv'));
  } else {
    header.appendChild(el('p', 'note', 'No provenance (data, model or bundle hashes) was given to the report.'));
  }
  root.appendChild(header);

  var metrics = el('section');
  metrics.id = 'section-metrics';
  metrics.appendChild(el('h2', null, 'Metrics'));
  metrics.appendChild(table(data.metrics.columns, data.metrics.rows));
  data.warnings.forEach(function (w) { metrics.appendChild(el('p', 'warning', w)); });
  root.appendChild(metrics);

  var jobs = [];
  data.sections.forEach(function (s) {
    var sec = el('section');
    sec.id = 'section-' + s.id;
    sec.appendChild(el('h2', null, s.title));
    if (s.text) sec.appendChild(el('p', null, s.text));
    if (s.charts.length) {
      var row = el('div', 'charts');
      s.charts.forEach(function (c) {
        var host = el('div', 'chart');
        host.id = 'chart-' + c.id;
        row.appendChild(host);
        jobs.push({ host: host, chart: c });
      });
      sec.appendChild(row);
    }
    if (s.table) sec.appendChild(table(s.table.columns, s.table.rows));
    s.notes.forEach(function (n) { sec.appendChild(el('p', 'note', n)); });
    root.appendChild(sec);
  });

  var footer = el('footer');
  footer.appendChild(el('p', null, 'Made by Lucent. Charts: ' + data.software.scripts.map(function (s) {
    return s.package + ' ' + s.version + ' (' + s.license + ')';
  }).join(', ') + ', inlined in this file: it opens offline and loads nothing from the network.'));
  data.software.licenses.forEach(function (l) {
    var d = el('details');
    d.appendChild(el('summary', null, 'Licence of ' + l.package));
    d.appendChild(el('pre', null, l.text));
    footer.appendChild(d);
  });
  var b = el('details');
  b.appendChild(el('summary', null, 'Packages whose code the inlined builds may contain (name, version, licence)'));
  b.appendChild(el('pre', null, data.software.bundled));
  footer.appendChild(b);
  root.appendChild(footer);

  state.expected = jobs.length;
  function finish() {
    if (state.rendered + state.failed === state.expected) {
      state.done = true;
      document.body.setAttribute('data-rendered', String(state.rendered));
    }
  }
  jobs.forEach(function (j) {
    vegaEmbed(j.host, j.chart.spec, { actions: false, renderer: 'svg' }).then(function () {
      state.rendered += 1;
      finish();
    }, function (err) {
      state.failed += 1;
      state.errors.push(j.chart.id + ': ' + String(err));
      j.host.appendChild(el('p', 'chart-error', 'Chart "' + j.chart.id + '" could not be drawn: ' + String(err)));
      finish();
    });
  });
  finish();
})();
