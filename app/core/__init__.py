"""What every domain needs and no domain owns: ids, the clock, text checks, pagination."""
