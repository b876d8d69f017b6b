project_id        = "grocery-dev"
github_repository = "grocery-pipeline/grocery-pipeline"
