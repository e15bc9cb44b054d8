# Thousands grouped with commas, as Chinese readers see large figures written in Latin
# digits (Django's Chinese data groups nothing).
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
