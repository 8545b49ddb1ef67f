-- Listing by name: the index holds NULL names first, as listings order them (ascending: NULLs
-- first; descending, read backwards: NULLs last), so PostgreSQL sorts from it as SQLite does.
DROP INDEX images_list_name;
CREATE INDEX images_list_name ON images (deleted, name NULLS FIRST, id);

-- Listing by property (`?key=value`): one lookup by name and value together. Values can be
-- long, so the index keeps their md5, and queries ask for `md5(value)` beside `value`.
DROP INDEX image_properties_value;
CREATE INDEX image_properties_value ON image_properties (name, md5(value));
