"""Board files and tops (installed as ``hwgen.boards``)."""
