// The reader's time zone, as the browser names it ("America/New_York"), for the server's
// pages and sockets to show times in (webchat.middleware.TimeZoneMiddleware): kept in the
// `tz` cookie, written again only when it changes (a laptop taken across zones).
"use strict";
{
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    /* no Intl: the server's zone */
  }
  const kept = document.cookie.split("; ").find((pair) => pair.startsWith("tz="));
  // An IANA name holds nothing a cookie must escape.
  if (/^[\w+/-]+$/.test(zone) && kept !== `tz=${zone}`) {
    const secure = location.protocol === "https:" ? "; secure" : "";
    document.cookie = `tz=${zone}; path=/; max-age=31536000; samesite=lax${secure}`;
  }
}
