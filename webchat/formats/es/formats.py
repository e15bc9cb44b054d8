# Thousands grouped with "." as the browser writes them in Spanish (CLDR), so the page's
# server-written and script-written figures agree ("1.983.616" beside "499.909"); Django's
# Spanish data groups them with a space.
THOUSAND_SEPARATOR = "."
