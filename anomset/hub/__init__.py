"""Dataset card rendering and publishing: the only code that talks to the Hub."""
