-- Properties are found by image (the primary key) or by name and value (image_properties_value);
-- the index on (name, image_id) answered neither, and every create wrote one entry in it for
-- each property, each on a page of its own.
DROP INDEX image_properties_lookup;
