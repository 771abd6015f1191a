const WebSocket = require('ws');
const http = require('http');
const express = require('express');
require('dotenv').config();

const app = express();
const server = http.createServer(app);
const wss = new WebSocket.Server({ server });

// Store active connections
const clients = new Map();

// Authentication middleware
function authenticateClient(request) {
  const token = request.headers.authorization?.replace('Bearer ', '');
  
  if (!token) {
    throw new Error('Missing authentication token');
  }
  
  // Verify token (implement your auth logic)
  // For example, verify JWT or API key
  const isValid = verifyToken(token);
  
  if (!isValid) {
    throw new Error('Invalid token');
  }
  
  return { userId: 'user_123', token };
}

function verifyToken(token) {
  // Implement token verification
  // Return true if valid, false otherwise
  return token === process.env.NEXUS_API_KEY;
}

// WebSocket connection handler
wss.on('connection', (ws, request) => {
  let clientId;
  
  try {
    // Authenticate client
    const auth = authenticateClient(request);
    clientId = `client_${Date.now()}_${Math.random()}`;
    
    // Store client connection
    clients.set(clientId, {
      ws,
      userId: auth.userId,
      subscriptions: new Set(),
      createdAt: Date.now()
    });
    
    console.log(`Client ${clientId} connected`);
    
    // Send welcome message
    ws.send(JSON.stringify({
      type: 'connection_established',
      client_id: clientId,
      timestamp: new Date().toISOString()
    }));
    
    // Handle incoming messages
    ws.on('message', (data) => {
      handleMessage(clientId, data);
    });
    
    // Handle client disconnect
    ws.on('close', () => {
      console.log(`Client ${clientId} disconnected`);
      clients.delete(clientId);
    });
    
    // Handle errors
    ws.on('error', (error) => {
      console.error(`WebSocket error for ${clientId}:`, error);
    });
    
  } catch (error) {
    console.error('Authentication failed:', error.message);
    ws.close(1008, error.message); // Policy violation
  }
});

// Handle incoming messages
function handleMessage(clientId, data) {
  const client = clients.get(clientId);
  if (!client) return;
  
  try {
    const message = JSON.parse(data);
    
    switch (message.action) {
      case 'subscribe':
        handleSubscribe(clientId, message);
        break;
      
      case 'unsubscribe':
        handleUnsubscribe(clientId, message);
        break;
      
      case 'ping':
        handlePing(clientId);
        break;
      
      default:
        client.ws.send(JSON.stringify({
          type: 'error',
          message: `Unknown action: ${message.action}`
        }));
    }
  } catch (error) {
    console.error(`Error handling message from ${clientId}:`, error);
    client.ws.send(JSON.stringify({
      type: 'error',
      message: 'Invalid message format'
    }));
  }
}

// Handle channel subscription
function handleSubscribe(clientId, message) {
  const client = clients.get(clientId);
  if (!client) return;
  
  const { channels, filters } = message;
  
  // Validate channels
  const validChannels = [
    'telemetry.metrics',
    'telemetry.events',
    'tasks.updates',
    'tasks.created',
    'commands.status',
    'ai.requests',
    'system.alerts'
  ];
  
  const invalidChannels = channels.filter(ch => !validChannels.includes(ch));
  
  if (invalidChannels.length > 0) {
    client.ws.send(JSON.stringify({
      type: 'subscription_error',
      message: `Invalid channels: ${invalidChannels.join(', ')}`
    }));
    return;
  }
  
  // Add channels to subscriptions
  channels.forEach(channel => {
    client.subscriptions.add(JSON.stringify({ channel, filters }));
  });
  
  // Send confirmation
  client.ws.send(JSON.stringify({
    type: 'subscription_confirmed',
    channels,
    filters,
    subscription_id: `sub_${Date.now()}`
  }));
  
  console.log(`Client ${clientId} subscribed to:`, channels);
}

// Handle channel unsubscription
function handleUnsubscribe(clientId, message) {
  const client = clients.get(clientId);
  if (!client) return;
  
  const { channels } = message;
  
  channels.forEach(channel => {
    // Remove all subscriptions for this channel
    Array.from(client.subscriptions).forEach(sub => {
      const parsed = JSON.parse(sub);
      if (parsed.channel === channel) {
        client.subscriptions.delete(sub);
      }
    });
  });
  
  client.ws.send(JSON.stringify({
    type: 'unsubscription_confirmed',
    channels
  }));
  
  console.log(`Client ${clientId} unsubscribed from:`, channels);
}

// Handle ping
function handlePing(clientId) {
  const client = clients.get(clientId);
  if (!client) return;
  
  client.ws.send(JSON.stringify({
    type: 'pong',
    timestamp: new Date().toISOString()
  }));
}

// Broadcast event to subscribed clients
function broadcastEvent(channel, event) {
  clients.forEach((client, clientId) => {
    // Check if client is subscribed to this channel
    const isSubscribed = Array.from(client.subscriptions).some(sub => {
      const parsed = JSON.parse(sub);
      
      if (parsed.channel !== channel) return false;
      
      // Apply filters if any
      if (parsed.filters) {
        return matchesFilters(event, parsed.filters);
      }
      
      return true;
    });
    
    if (isSubscribed) {
      try {
        client.ws.send(JSON.stringify({
          type: 'event',
          channel,
          timestamp: new Date().toISOString(),
          data: event
        }));
      } catch (error) {
        console.error(`Error sending to ${clientId}:`, error);
      }
    }
  });
}

// Check if event matches filters
function matchesFilters(event, filters) {
  for (const [key, value] of Object.entries(filters)) {
    if (Array.isArray(value)) {
      if (!value.includes(event[key])) return false;
    } else {
      if (event[key] !== value) return false;
    }
  }
  return true;
}

// Heartbeat to keep connections alive
setInterval(() => {
  clients.forEach((client, clientId) => {
    if (client.ws.readyState === WebSocket.OPEN) {
      client.ws.ping();
    } else {
      clients.delete(clientId);
    }
  });
}, 30000); // Every 30 seconds

// Example: Simulate events (in production, these come from your event system)
setInterval(() => {
  broadcastEvent('telemetry.metrics', {
    event_type: 'system.metric',
    source: 'server-01',
    metric_name: 'cpu_usage',
    value: Math.random() * 100,
    timestamp: new Date().toISOString()
  });
}, 5000);

// Start server
const PORT = process.env.PORT || 3000;
server.listen(PORT, () => {
  console.log(`WebSocket server running on port ${PORT}`);
  console.log(`ws://localhost:${PORT}`);
});

// Graceful shutdown
process.on('SIGTERM', () => {
  console.log('SIGTERM received, closing server...');
  
  // Close all client connections
  clients.forEach((client, clientId) => {
    client.ws.close(1000, 'Server shutting down');
  });
  
  wss.close(() => {
    server.close(() => {
      console.log('Server closed');
      process.exit(0);
    });
  });
});

// Export for use in other modules
module.exports = { broadcastEvent };
