# Day before month, as Arabic readers write dates (Django's Arabic data has no short form
# with a time, and its fallback puts the month first).
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
# Numbers as the browser writes them in Arabic (CLDR: Latin digits, "," between thousands,
# "." before decimals), so the page's server-written and script-written figures agree;
# Django's Arabic data has them the other way round, and groups nothing.
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
