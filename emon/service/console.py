"""A minimal operator console until the full one (issue 6): live alerts by SSE."""

CONSOLE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>emon console</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f6f7f9;color:#111}
table{border-collapse:collapse;width:100%;background:#fff}
td,th{padding:.4rem .6rem;border-bottom:1px solid #ddd;text-align:left;font-size:.9rem}
.critical{background:#fde2e1}.high{background:#fff1d6}
#login{margin-bottom:1rem}
</style></head>
<body>
<h1>emon: live alerts</h1>
<form id="login">Token <input id="token" type="password" size="40"> <button>Connect</button>
<span id="status"></span></form>
<table><thead><tr><th>detected</th><th>type</th><th>severity</th><th>state</th>
<th>order</th><th>zone</th><th>device</th></tr></thead><tbody id="alerts"></tbody></table>
<script>
const rows = new Map();
function show(a){
  let tr = rows.get(a.alert_id);
  if(!tr){tr=document.createElement('tr');rows.set(a.alert_id,tr);
          document.getElementById('alerts').prepend(tr);}
  tr.className = a.severity;
  tr.innerHTML = [a.detected_at,a.type,a.severity,a.state,a.order_id,a.zone_id||'',a.device_id]
    .map(v=>`<td>${String(v).replace(/</g,'&lt;')}</td>`).join('');
}
document.getElementById('login').onsubmit = async e => {
  e.preventDefault();
  const token = document.getElementById('token').value;
  const r = await fetch('/api/v1/alerts',{headers:{Authorization:'Bearer '+token}});
  if(!r.ok){document.getElementById('status').textContent='not authorised';return;}
  (await r.json()).reverse().forEach(show);
  const es = new EventSource('/api/v1/alerts/stream?token='+encodeURIComponent(token));
  es.addEventListener('alert', ev => show(JSON.parse(ev.data)));
  document.getElementById('status').textContent='live';
};
</script></body></html>
"""
