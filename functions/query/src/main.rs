//! The query Lambda: the dashboard API over DynamoDB, served from API Gateway HTTP API
//! (payload v2) through the same axum router `rockets-local` serves.

use std::sync::Arc;

use lambda_http::Error;
use query::QueryState;
use rockets_aws::DynamoStore;
use rockets_aws::config::{TABLE_NAME_VAR, load_sdk_config, required_env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let table = required_env(TABLE_NAME_VAR)?;
    let sdk = load_sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);

    lambda_http::run(query::app(QueryState::new(Arc::new(store)))).await
}
