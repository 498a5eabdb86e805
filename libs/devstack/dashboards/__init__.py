"""The bureau's Grafana dashboards: what operations asks, as PromQL over the services' metrics.

Rendered to deploy/grafana/dashboards/*.json by `frontdesk dashboards`. Hourly figures are
`increase(...[1h])` on panels with a one-hour step; "today" is the dashboard's default range
(Europe/Amsterdam). Company names come from calls' `frontdesk_client_info` series.
"""

from __future__ import annotations

from libs.devstack.dashboards.back_office import BILLING, NOTIFICATIONS
from libs.devstack.dashboards.calendar import CALENDAR
from libs.devstack.dashboards.inbox import INBOX
from libs.devstack.dashboards.pipeline import PIPELINE
from libs.devstack.dashboards.traffic import CALL_VOLUME, OPERATORS

DASHBOARDS = (CALL_VOLUME, OPERATORS, NOTIFICATIONS, BILLING, CALENDAR, INBOX, PIPELINE)
