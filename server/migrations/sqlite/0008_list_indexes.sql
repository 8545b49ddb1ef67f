-- Listing: SQLite's indexes already hold NULLs first, as listings order them, and look
-- properties up by name and value together (0002).
SELECT 1;
