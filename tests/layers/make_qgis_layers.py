"""How the layers beside this file were made: by QGIS 3.22 LTR itself (Debian 12's qgis 3.22.16, its GDAL
3.6.2), from the sample layer's patches of projects 2023-01 (named as printed) and 2025-01 (by code).

Not run by the tests (CI has no QGIS). Run with the system Python that PyQGIS is built for:

    PYTHONPATH=ingest python -c 'from pathlib import Path; from regreen.patches.sample import \
        write_sample_layer; from regreen.submissions.reference import load_reference; \
        from regreen.project import BUNDLED_NOTICE; write_sample_layer(Path("/tmp/s"), \
        load_reference(BUNDLED_NOTICE), 11)'
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/layers/make_qgis_layers.py /tmp/s/示例-图斑.gpkg tests/layers
"""

import sys

from qgis import processing
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsLayerMetadata,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

sys.path.append("/usr/share/qgis/python/plugins")
app = QgsApplication([], False)
app.initQgis()
from processing.core.Processing import Processing  # noqa: E402 (needs the application)

Processing.initialize()
source, out = sys.argv[1:3]
sample = processing.run(
    "native:extractbyexpression",
    {
        "INPUT": QgsVectorLayer(source, "图斑", "ogr"),
        "EXPRESSION": "\"图斑编号\" LIKE '2023-01-%' OR \"图斑编号\" LIKE '2025-01-%'",
        "OUTPUT": "memory:",
    },
)["OUTPUT"]

# Layer > Save As… (QgsVectorFileWriter) to a Shapefile in UTF-8 with the layer's metadata: .cpg and .qmd.
options = QgsVectorFileWriter.SaveVectorOptions()
options.driverName = "ESRI Shapefile"
options.fileEncoding = "UTF-8"
metadata = QgsLayerMetadata()
metadata.setTitle("台商投资区废弃矿山修复图斑")
options.layerMetadata = metadata
options.saveMetadata = True
QgsVectorFileWriter.writeAsVectorFormatV3(
    sample, f"{out}/qgis-3.22-save-as-utf8.shp", QgsCoordinateTransformContext(), options
)
# Processing's "Save vector features to file": a Shapefile in UTF-8 without a .cpg.
processing.run("native:savefeatures", {"INPUT": sample, "OUTPUT": f"{out}/qgis-3.22-savefeatures.shp"})
# "Set M value" (measures, as some GPS and CAD imports carry): a GeoPackage of PolygonM.
measured = processing.run("native:setmvalue", {"INPUT": sample, "M_VALUE": 1.0, "OUTPUT": "memory:"})[
    "OUTPUT"
]
processing.run("native:savefeatures", {"INPUT": measured, "OUTPUT": f"{out}/qgis-3.22-setmvalue.gpkg"})
# A custom CRS (Settings > Custom Projections), EPSG:4528's PROJ string, USER:100000, assigned to the layer;
# the same string with a null shift to WGS84 written to a Shapefile, whose .prj QGIS writes in ESRI WKT.
proj = "+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=40500000 +y_0=0 +ellps=GRS80 +units=m +no_defs"
user = QgsApplication.coordinateReferenceSystemRegistry().addUserCrs(
    QgsCoordinateReferenceSystem.fromProj(proj), "CGCS2000 3度带第40带（自定义）"
)
for crs, name in (
    (QgsCoordinateReferenceSystem(f"USER:{user}"), "qgis-3.22-user-crs.gpkg"),
    (
        QgsCoordinateReferenceSystem.fromProj(proj.replace(" +units", " +towgs84=0,0,0 +units")),
        "qgis-3.22-proj-crs.shp",
    ),
):
    assigned = processing.run("native:assignprojection", {"INPUT": sample, "CRS": crs, "OUTPUT": "memory:"})[
        "OUTPUT"
    ]
    processing.run("native:savefeatures", {"INPUT": assigned, "OUTPUT": f"{out}/{name}"})
app.exitQgis()
