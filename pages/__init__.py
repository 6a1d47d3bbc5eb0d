"""Staff web pages (board, search, client card, incident): thin handlers over
the same service functions as the API, rendered with templates/pages/."""
