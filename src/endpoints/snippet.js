/* affiliated click snippet; see "A first-party click snippet" in docs/integration.md.
   With ?ref=CODE in the page URL it records a click at the /c/ endpoint beside this script
   and keeps its ID 30 days in the cookie affiliated_click_id. It never throws. */
(function (w, d) {
  try {
    var a = w.affiliated = w.affiliated || {};
    if (a.loaded) return; // once per page load
    a.loaded = 1;
    var m = d.cookie.match(/(?:^|;\s*)affiliated_click_id=([\w-]+)/);
    a.clickId = m ? m[1] : null;
    a.ready = Promise.resolve(a.clickId);
    var s = d.currentScript, q = new URLSearchParams(location.search), code, i;
    var at = function (n) { return s.getAttribute('data-' + n); };
    var names = (at('param') || 'ref,via,aff').split(/[\s,]+/);
    for (i = 0; i < names.length && !code; i++) code = names[i] && q.get(names[i]);
    if (!code || !w.fetch) return;
    var p = new URLSearchParams(), offer = q.get('offer') || at('offer'), dom = at('domain');
    if (offer) p.set('offer', offer);
    for (i = 1; i < 6; i++) {
      var sub = q.get('sub' + i) || q.get('aff_sub' + (i > 1 ? i : ''));
      if (sub) p.set('sub' + i, sub);
    }
    p.set('referrer', d.referrer); // the page itself reaches /c/ as the Referer header
    var url = s.src.split(/[?#]/)[0].replace(/[^/]*$/, 'c/') + encodeURIComponent(code) + '?' + p;
    a.ready = fetch(url, { credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (j) {
        var id = j && j.click_id;
        if (typeof id == 'string' && /^[\w-]{8,128}$/.test(id)) {
          d.cookie = 'affiliated_click_id=' + id + '; Max-Age=2592000; Path=/; SameSite=Lax' +
            (dom ? '; Domain=' + dom : '') + (location.protocol == 'https:' ? '; Secure' : '');
          a.clickId = id;
        }
        return a.clickId;
      })['catch'](function () { return a.clickId; });
  } catch (e) {} // a tracking snippet must never break the page
})(window, document);
