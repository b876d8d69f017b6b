project_id        = "grocery-prod"
github_repository = "grocery-pipeline/grocery-pipeline"
# dev's GKE nodes pull the released images from the prod registry.
registry_readers = ["serviceAccount:grocery-dev-nodes@grocery-dev.iam.gserviceaccount.com"]
