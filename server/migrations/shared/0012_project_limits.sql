-- A project's own limits in local mode (`glint project limit`), over the deployment's
-- `--image-quota` and `--storage-quota`: image_size_total and image_stage_total in MiB,
-- image_count_total and image_count_uploading in images; -1 is no limit.
CREATE TABLE project_limits (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    value      BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
