"""The dbt project and its CLI resource, apart from the assets: ``resources.py`` binds the
resource and ``dbt_assets.py`` builds the assets from the same project, so neither imports the other."""

from dagster_dbt import DbtCliResource, DbtProject

from dz_assets.transform import DBT_PROJECT_DIR, dbt_executable, run_dbt

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
if not dbt_project.manifest_path.exists():
    # A fresh clone where set-up did not run `dzhub dbt parse` yet: parse once (no database needed).
    run_dbt(["parse", "--quiet"])

dbt_resource = DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
