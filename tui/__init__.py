"""danlu's Textual wizard: a presentation layer over ``engine`` (DESIGN.md §1)."""
