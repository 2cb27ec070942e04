"""The tips area of the internal site: the inbox, the tip page, decisions, notices to the
reporter, assignment, alerts and the export for the file (DESIGN.md, "Cases, rewards,
publication": one subpackage per area)."""
