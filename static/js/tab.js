// What this tab keeps across the app's pages, in its sessionStorage: the conversation it
// has open (chat.js notes it, by person), so a page's "Back to chat" returns there, not to
// a new chat; and the drafts (composer.js). Logging out, from any page, forgets all of it:
// the next person in this tab finds nothing of the last one's. A session that ended
// without it (it expired, a log out in another tab, an account deleted) is forgotten on
// the first page of whoever logs in next, unless it is the same person.
"use strict";
{
  const user = document.body.dataset.user;
  const forget = (keep = () => false) => {
    try {
      for (const key of Object.keys(sessionStorage)) {
        if (key.startsWith("webchat-") && !keep(key)) sessionStorage.removeItem(key);
      }
    } catch {
      /* storage disabled: nothing was kept */
    }
  };
  // (Not on a page before a login: the same person logging in again finds their drafts.)
  if (user !== undefined) forget((key) => key.endsWith(`:${user}`) || key.includes(`:${user}:`));
  const chat = (() => {
    try {
      return sessionStorage.getItem(`webchat-chat:${user}`);
    } catch {
      return null; // storage disabled: the links go to a new chat
    }
  })();
  for (const link of document.querySelectorAll("a.back-to-chat")) {
    // Only a conversation's own address, under the app's (its home is the link's): never
    // `//host/…`, which would be another site's.
    const rest = chat?.startsWith(link.pathname) ? chat.slice(link.pathname.length) : "";
    if (/^c\/[0-9a-f-]{36}\/$/.test(rest)) link.href = chat;
  }
  for (const form of document.querySelectorAll("form[action$='/logout/']")) {
    form.addEventListener("submit", () => forget());
  }
}
