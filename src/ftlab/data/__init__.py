"""Raw data: where splits come from (files, installed packages, the Hub) and how they are cut."""
