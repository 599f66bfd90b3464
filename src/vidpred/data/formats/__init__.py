"""File formats and storage of data sets: IDX, TFRecord, media clips, prepared arrays, downloads."""
