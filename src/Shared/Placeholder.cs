namespace NixFleet.Shared;
