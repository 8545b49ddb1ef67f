-- Listing by property value (`?key=value`) looks rows up by value. Values can be long, so the
-- index stores their hash rather than the values themselves.
CREATE INDEX image_properties_value ON image_properties USING hash (value);
