# bnopt: "How Does Batch Normalization Help Optimization?" (Santurkar et al., 2018),
# every experiment from the data download to the report, as one DAG.
#
#   snakemake --cores all                                  # the paper (config/config.yaml)
#   snakemake --cores all --configfile config/quick.yaml   # offline, minutes on a laptop
#
# Rules are split by stage under workflow/rules/; the science is the bnopt package
# under workflow/bnopt/.

from snakemake.utils import min_version

min_version("9.0")


# The paper's config, unless --configfile names others: those then replace it rather
# than extend it (Snakemake's default merges them into this file, so a config without
# a `nets.vgg` section would still train the paper's VGG-16 when run from the repo
# root). Several --configfile files merge in order, mappings key by key: an overlay
# such as config/sweep.yaml adds named run groups to config/quick.yaml's.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/surface.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


# Every output of every job, not just the report: a file deleted by hand is then
# rebuilt by a plain rerun (Snakemake treats a missing intermediate whose consumers
# are up to date like a temp file, and would leave it missing).
rule all:
    input:
        every_run_output(),
        expand("results/tables/{table}.parquet", table=AGGREGATE_TABLES),
        "results/tables/claims.csv",
        "results/tables/scorecard.csv",
        "results/tables/scorecard_values.parquet",
        all_surface_outputs("rows"),
        all_surface_outputs("line"),
        "results/tables/surface.parquet",
        "results/tables/interpolation.parquet",
        "reports/report.ipynb",
        "reports/report.html",
        "reports/figures",
    default_target: True
