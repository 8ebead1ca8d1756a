// The page answered to `GET /`: how to point clients at this cache (status 406, as apt-cacher-ng does).

export function usagePage(hostHeader: string | undefined): string {
  const base = `http://${escapeHtml(hostHeader ?? 'cache:3142')}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hoard, an Apt-Cacher NG compatible apt cache - Usage Information</title></head>
<body>
<h1>hoard - Usage Information</h1>
<p>This is an apt package cache (an apt-cacher-ng compatible proxy). It is not a web site: point apt at it.</p>
<h2>Proxy mode</h2>
<pre>echo 'Acquire::http::Proxy "${base}";' &gt; /etc/apt/apt.conf.d/01proxy</pre>
<h2>Prefix mode</h2>
<pre>deb ${base}/mirror.example/debian bookworm main</pre>
<p>HTTPS repositories: <code>${base}/HTTPS///mirror.example/debian</code>. Dashboard: <a href="/_hoard/">/_hoard/</a>.</p>
</body></html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
