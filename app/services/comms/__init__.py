"""Communications: every message about an incident, sent or received, with a short ref."""
