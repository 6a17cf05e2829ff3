"""What the records around the incident (problems, changes, articles) share: their timeline."""
