"""Files and rows: parameters saved without pickle, and windows of rows read from Parquet/CSV
files, Dask data or iterables."""
