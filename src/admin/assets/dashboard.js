// Dashboard script: refreshes the server-rendered numbers every few seconds, draws the charts (uPlot), runs admin actions.
/* global uPlot, document, window, fetch, DOMParser, FormData, setTimeout */
(function () {
  'use strict';
  var script = document.currentScript;
  var prefix = (script && script.getAttribute('data-prefix')) || '/_hoard';
  var charts = {};

  function seriesData(stats) {
    var s = stats.series;
    var t = s.map(function (p) {
      return p.t;
    });
    return {
      requests: [
        t,
        s.map(function (p) {
          return p.cacheRequests;
        }),
        s.map(function (p) {
          return p.upstreamRequests;
        }),
        s.map(function (p) {
          return p.otherRequests;
        }),
      ],
      bytes: [
        t,
        s.map(function (p) {
          return p.cacheBytes;
        }),
        s.map(function (p) {
          return p.upstreamBytes;
        }),
      ],
    };
  }

  function bytesTick(u, values) {
    return values.map(function (v) {
      var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      var i = 0;
      while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
      }
      return (i === 0 ? v : v.toFixed(1)) + ' ' + units[i];
    });
  }

  // With few points uPlot's automatic x range stretches one sample over years: the window is set from the
  // data instead, at least ten minutes wide, and the y axis starts at zero.
  function xWindow(data) {
    var t = data[0];
    var now = Date.now() / 1000;
    var max = t.length ? Math.max(t[t.length - 1], now) : now;
    var min = t.length ? Math.min(t[0], max - 600) : max - 600;
    return { min: min, max: max + 10 };
  }

  function draw(id, data, series, axisValues) {
    var el = document.getElementById(id);
    if (!el || typeof uPlot === 'undefined') return;
    var width = Math.max(300, el.clientWidth);
    var win = xWindow(data);
    if (charts[id]) {
      charts[id].setData(data, false);
      charts[id].setScale('x', win);
      charts[id].setSize({ width: width, height: 220 });
      return;
    }
    el.textContent = '';
    var opts = {
      width: width,
      height: 220,
      series: [{}].concat(series),
      axes: [{}, axisValues ? { values: axisValues, size: 84 } : { size: 50 }],
      scales: {
        x: { time: true, auto: false, min: win.min, max: win.max },
        y: {
          range: function (u, min, max) {
            return [0, Math.max(1, max * 1.15)];
          },
        },
      },
    };
    charts[id] = new uPlot(opts, data, el);
    charts[id].setScale('x', win);
  }

  function drawCharts(stats) {
    var d = seriesData(stats);
    draw('chart-requests', d.requests, [
      { label: 'from cache', stroke: '#1f8a4c', fill: 'rgba(31,138,76,.12)' },
      { label: 'from upstream', stroke: '#2f6fde', fill: 'rgba(47,111,222,.12)' },
      { label: 'other', stroke: '#b7791f' },
    ]);
    draw(
      'chart-bytes',
      d.bytes,
      [
        { label: 'served from cache', stroke: '#1f8a4c', fill: 'rgba(31,138,76,.12)' },
        { label: 'fetched upstream', stroke: '#2f6fde', fill: 'rgba(47,111,222,.12)' },
      ],
      bytesTick,
    );
  }

  // The server renders every number; refreshing swaps in its newer rendering, so there is one renderer.
  function refresh() {
    Promise.all([
      fetch(window.location.pathname, { cache: 'no-store' }).then(function (r) {
        return r.text();
      }),
      fetch(prefix + '/stats.json', { cache: 'no-store' }).then(function (r) {
        return r.json();
      }),
    ])
      .then(function (results) {
        var fresh = new DOMParser().parseFromString(results[0], 'text/html').getElementById('live');
        var live = document.getElementById('live');
        if (fresh && live) {
          var keep = {};
          ['chart-requests', 'chart-bytes'].forEach(function (id) {
            keep[id] = document.getElementById(id);
          });
          live.innerHTML = fresh.innerHTML;
          Object.keys(keep).forEach(function (id) {
            var placeholder = document.getElementById(id);
            if (placeholder && keep[id]) placeholder.replaceWith(keep[id]);
          });
        }
        drawCharts(results[1]);
        document.documentElement.setAttribute('data-refreshed', String(Date.now()));
      })
      .catch(function () {
        /* the next refresh tries again */
      })
      .then(function () {
        setTimeout(refresh, 5000);
      });
  }

  document.addEventListener('submit', function (event) {
    var form = event.target;
    var action = form.getAttribute('data-action');
    // The token field's form is never sent anywhere: Enter in it must not put the token in a URL.
    if (form.id === 'token-form') event.preventDefault();
    if (!action) return;
    event.preventDefault();
    var data = new FormData(form);
    var body = action === 'evict' ? JSON.stringify({ target: data.get('target') }) : JSON.stringify({ dryRun: data.get('dryRun') === 'on' });
    var token = document.getElementById('token').value;
    var out = document.getElementById('action-result');
    out.hidden = false;
    out.textContent = 'running…';
    fetch(form.getAttribute('action'), { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: body })
      .then(function (r) {
        return r.text();
      })
      .then(function (text) {
        out.textContent = text;
      })
      .catch(function (err) {
        out.textContent = String(err);
      });
  });

  fetch(prefix + '/stats.json', { cache: 'no-store' })
    .then(function (r) {
      return r.json();
    })
    .then(drawCharts)
    .catch(function () {});
  setTimeout(refresh, 5000);
})();
