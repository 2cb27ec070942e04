"""Rule packs: data, not code (DESIGN.md, "Rules as data")."""
