# One date format in every language and every list or page: 2026-12-07 14:05:09 (the time zone is shown
# beside it once, by the page). Input formats are left to Django's own locale files.
DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
