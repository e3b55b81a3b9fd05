//! The request of a compatible route that names a counter in its path, read in one place: the
//! counter ([`names::from_path`], with the dialect's texts for a bad name), the query
//! ([`Params`]) and the headers (placeholders, tokens). Every such route starts from the same
//! three, so they are an extractor rather than the same lines at the top of each handler.
//!
//! Nothing here refuses a request: a bad name is kept as the [`Failure`] that
//! [`super::reply::Reply::run`] answers, after the callback has been checked.

use std::{collections::HashMap, convert::Infallible, marker::PhantomData};

use axum::{
    extract::{FromRequestParts, Path},
    http::{HeaderMap, request::Parts},
};

use super::{
    names::{self, Dialect},
    reply::{Failure, Params},
};
use crate::store::CounterName;

/// Whose route it is, as a type, so that a handler's signature says which texts it answers.
pub trait Speaks {
    const DIALECT: Dialect;
}

/// A route CountAPI had.
pub struct CountApi;

/// A route only Abacus had.
pub struct Abacus;

impl Speaks for CountApi {
    const DIALECT: Dialect = Dialect::CountApi;
}

impl Speaks for Abacus {
    const DIALECT: Dialect = Dialect::Abacus;
}

/// The counter a request names, its query and its headers.
pub struct Named<D> {
    pub name: Result<CounterName, Failure>,
    pub params: Params,
    pub headers: HeaderMap,
    dialect: PhantomData<D>,
}

impl<S: Send + Sync, D: Speaks> FromRequestParts<S> for Named<D> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let path = Path::<HashMap<String, String>>::from_request_parts(parts, state).await;
        let params = Params::parse(parts.uri.query());
        let headers = parts.headers.clone();
        let name = names::from_path(path, &headers, D::DIALECT);
        Ok(Named {
            name,
            params,
            headers,
            dialect: PhantomData,
        })
    }
}
