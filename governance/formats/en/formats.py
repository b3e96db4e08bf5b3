"""One timestamp format in the admin and on every page (FORMAT_MODULE_PATH): "2026-11-23 09:50 UTC",
the same as `lib.readable.moment` writes in emails and Jira comments."""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
