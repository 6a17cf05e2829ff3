"""Changes to production: requested, approved by someone else, scheduled, implemented."""
