namespace NixFleet.Web.Tests;

[CollectionDefinition(FleetCollection.Name)]
public sealed class FleetCollectionDefinition;
