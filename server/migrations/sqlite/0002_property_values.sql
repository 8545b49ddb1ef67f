-- Listing by property value (`?key=value`) looks rows up by name and value.
CREATE INDEX image_properties_value ON image_properties (name, value);
