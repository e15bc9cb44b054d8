// What this tab keeps across the app's pages, in its sessionStorage: the conversation it
// has open (chat.js notes it, by person), so a page's "Back to chat" returns there, not to
// a new chat; and the drafts (composer.js). Logging out, from any page, forgets all of it:
// the next person in this tab finds nothing of the last one's.
"use strict";
{
  const chat = (() => {
    try {
      return sessionStorage.getItem(`webchat-chat:${document.body.dataset.user}`);
    } catch {
      return null; // storage disabled: the links go to a new chat
    }
  })();
  for (const link of document.querySelectorAll("a.back-to-chat")) {
    // Only a conversation's own address, under the app's (its home is the link's).
    if (chat?.startsWith(link.pathname) && /\/c\/[0-9a-f-]{36}\/$/.test(chat)) link.href = chat;
  }
  for (const form of document.querySelectorAll("form[action$='/logout/']")) {
    form.addEventListener("submit", () => {
      try {
        for (const key of Object.keys(sessionStorage)) {
          if (key.startsWith("webchat-")) sessionStorage.removeItem(key);
        }
      } catch {
        /* storage disabled: nothing was kept */
      }
    });
  }
}
