# Day before month, as Arabic readers write dates (Django's Arabic data has no short form
# with a time, and its fallback puts the month first).
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
# Thousands grouped (Django's Arabic data names a separator but groups nothing).
NUMBER_GROUPING = 3
