"""图斑: the plan's map patches as polygons, read from the bureau's GIS layers (see regreen.patches.layer)."""
