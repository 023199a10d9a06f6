using System.Net.Sockets;

namespace NixFleet.Shared.Tests;

/// <summary>What the fleet-based tests need to find the test fleet and free addresses for it.</summary>
internal static class FleetScript
{
    /// <summary>tests/fleet/fleet.sh above the test binaries, or null outside a checkout.</summary>
    public static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fleet", "fleet.sh");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public static bool IsListening(string address, int port)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect(address, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
